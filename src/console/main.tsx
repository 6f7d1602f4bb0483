/** The console's entry point (bundled by scripts/build-console.mjs into dist/console/app.js). */
import { render } from 'preact';
import { App } from './app.js';

render(<App />, document.getElementById('app')!);
