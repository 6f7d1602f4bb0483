import { describe, expect, it } from 'vitest';
import { DEFAULT_MIME_TYPE, isTextType, mimeTypeFor } from './mime.js';

describe('mimeTypeFor', () => {
  it.each([
    ['index.html', 'text/html; charset=utf-8'],
    ['static/site.CSS', 'text/css; charset=utf-8'],
    ['app.js', 'text/javascript; charset=utf-8'],
    ['module.mjs', 'text/javascript; charset=utf-8'],
    ['data.json', 'application/json; charset=utf-8'],
    ['app.js.map', 'application/json; charset=utf-8'],
    ['site.webmanifest', 'application/manifest+json; charset=utf-8'],
    ['feed.xml', 'application/xml; charset=utf-8'],
    ['app.yaml', 'application/yaml; charset=utf-8'],
    ['README.md', 'text/markdown; charset=utf-8'],
    ['logo.svg', 'image/svg+xml; charset=utf-8'],
    ['photo.JPG', 'image/jpeg'],
    ['image.avif', 'image/avif'],
    ['favicon.ico', 'image/x-icon'],
    ['font.woff2', 'font/woff2'],
    ['main.wasm', 'application/wasm'],
    ['clip.mp4', 'video/mp4'],
    ['song.mp3', 'audio/mpeg'],
    ['bundle.tar.gz', 'application/gzip'],
    ['noextension', DEFAULT_MIME_TYPE],
    ['.htaccess', DEFAULT_MIME_TYPE],
    ['weird.unknownext', DEFAULT_MIME_TYPE],
    ['proto.constructor', DEFAULT_MIME_TYPE],
  ])('%s → %s', (file, type) => {
    expect(mimeTypeFor(file)).toBe(type);
  });
});

describe('isTextType', () => {
  it.each([
    ['text/csv', true],
    ['application/json; charset=utf-8', true],
    ['application/ld+json', true],
    ['application/atom+xml', true],
    ['Application/JavaScript', true],
    ['image/png', false],
    ['application/octet-stream', false],
    ['application/wasm', false],
  ])('%s → %s', (type, text) => {
    expect(isTextType(type)).toBe(text);
  });
});
