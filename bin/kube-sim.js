#!/usr/bin/env node
import '../dist/kube-sim/main.js';
