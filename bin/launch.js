import { existsSync } from 'node:fs';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';

/**
 * Starts one of the programs. In a clone (the TypeScript sources are there) it runs them through tsx,
 * so `npx tunnel-ingress` works right after `npm install`, with no build step and never a stale build;
 * in the image (only dist/) it runs the compiled JavaScript.
 */
export async function launch(entry) {
  const root = new URL('../', import.meta.url);
  const source = new URL(`${entry}.ts`, root);
  const built = new URL(`dist/${entry}.js`, root);
  if (existsSync(fileURLToPath(source))) {
    let register = null;
    try {
      ({ register } = await import('tsx/esm/api'));
    } catch {
      // no tsx (installed without dev dependencies): the build, if there is one
    }
    if (register !== null) {
      register();
      await import(source.href);
      return;
    }
  }
  if (!existsSync(fileURLToPath(built))) {
    process.stderr.write(
      `cannot start ${entry}: run 'npm install' (or 'npm run build') in ${fileURLToPath(root)}\n`,
    );
    process.exit(2);
  }
  await import(built.href);
}
