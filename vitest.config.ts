import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{common,tunnel,agent,edge-sim,kube-sim,test}/**/*.test.ts'],
    // End-to-end files spawn real processes; two cores do not profit from more parallel files.
    fileParallelism: true,
    maxWorkers: 2,
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
