// Launcher for the client scripts: installs the pinned npm clients on first use (so `pytest`
// alone works on a fresh clone), then runs <script> with the remaining arguments.
// Usage: node run.mjs <script.mjs> [args...]   (npm's output goes to stderr; stdout is the script's)
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const wanted = Object.keys(JSON.parse(readFileSync(join(here, 'package.json'), 'utf8')).dependencies);
if (!wanted.every((name) => existsSync(join(here, 'node_modules', name, 'package.json')))) {
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--silent'], {
    cwd: here,
    stdio: ['ignore', 2, 2],
  });
}
const [script, ...args] = process.argv.slice(2);
process.argv = [process.argv[0], join(here, script), ...args];
await import(pathToFileURL(join(here, script)).href);
