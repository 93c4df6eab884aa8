#!/usr/bin/env node
import '../dist/edge-sim/main.js';
