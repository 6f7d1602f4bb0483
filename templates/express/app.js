import express from 'express';

// The Express app on its own, without Hangar: main.js hands it to Hangar, and the test runs it
// on plain node:http.
export const expressApp = express();

expressApp.get('/', (_req, res) => {
  res.type('text/plain').send('Hello from Express!\n');
});

expressApp.get('/hello/:name', (req, res) => {
  res.json({ hello: req.params.name });
});
