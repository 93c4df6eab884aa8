import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Tests read arbitrary JSON answers; typing every one would only restate the assertions.
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  // One-way dependencies (docs/architecture.md): common/ and tunnel/ import nothing above them, and
  // the three programs never import each other; only tests, benchmarks and the demo wire them together.
  ...[
    ['tunnel/**/*.ts', ['**/agent/**', '**/edge-sim/**', '**/kube-sim/**', '@kubernetes/*']],
    ['common/**/*.ts', ['**/tunnel/**', '**/agent/**', '**/edge-sim/**', '**/kube-sim/**', '@kubernetes/*']],
    ['agent/**/*.ts', ['**/edge-sim/**', '**/kube-sim/**', '**/test/**', '**/bench/**']],
    ['edge-sim/**/*.ts', ['**/agent/**', '**/kube-sim/**', '**/test/**', '**/bench/**']],
    ['kube-sim/**/*.ts', ['**/agent/**', '**/edge-sim/**', '**/tunnel/**', '**/test/**', '**/bench/**']],
  ].map(([glob, patterns]) => ({
    files: [glob],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns }] },
  })),
);
