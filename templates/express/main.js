// The one line of glue for a Node (req, res) app. 'hangar' is provided by Hangar when it runs
// this module, so it is not in package.json.
import { fromNode } from 'hangar';
import { expressApp } from './app.js';

export const app = fromNode(expressApp);
