import { Hono } from 'hono';

// An object with a fetch method is a handler as it is: Hangar calls app.fetch(request, env, ctx),
// so Hono's c.env is the request's environment. TypeScript runs without a build step.
export const app = new Hono();

app.get('/', (c) => c.text('Hello from Hono!\n'));

app.get('/hello/:name', (c) => c.json({ hello: c.req.param('name') }));
