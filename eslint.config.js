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
  {
    files: ['tunnel/**/*.ts'],
    rules: {
      // tunnel/ is the shared wire protocol: it must not reach into the programs that use it.
      'no-restricted-imports': [
        'error',
        { patterns: ['**/agent/**', '**/edge-sim/**', '**/kube-sim/**', '@kubernetes/*'] },
      ],
    },
  },
);
