/**
 * Content types for static files, by extension. A compact built-in table instead of a
 * dependency: static handlers only need the common web types, and a fixed table keeps
 * responses identical across machines (no reliance on /etc/mime.types).
 */
import { extname } from 'node:path';

/** What a file with an unknown (or no) extension is served as. */
export const DEFAULT_MIME_TYPE = 'application/octet-stream';

/** Extension (lower case, no dot) → media type without parameters. */
const TABLE: Readonly<Record<string, string>> = {
  // Documents and code
  html: 'text/html',
  htm: 'text/html',
  xhtml: 'application/xhtml+xml',
  css: 'text/css',
  // RFC 9239 makes text/javascript the one JavaScript type.
  js: 'text/javascript',
  mjs: 'text/javascript',
  cjs: 'text/javascript',
  json: 'application/json',
  jsonld: 'application/ld+json',
  map: 'application/json',
  webmanifest: 'application/manifest+json',
  txt: 'text/plain',
  text: 'text/plain',
  md: 'text/markdown',
  markdown: 'text/markdown',
  csv: 'text/csv',
  tsv: 'text/tab-separated-values',
  xml: 'application/xml',
  xsl: 'application/xml',
  rss: 'application/rss+xml',
  atom: 'application/atom+xml',
  // RFC 9512.
  yaml: 'application/yaml',
  yml: 'application/yaml',
  ics: 'text/calendar',
  vtt: 'text/vtt',
  pdf: 'application/pdf',
  wasm: 'application/wasm',
  // Images
  svg: 'image/svg+xml',
  png: 'image/png',
  apng: 'image/apng',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  bmp: 'image/bmp',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  ico: 'image/x-icon',
  // Fonts
  woff: 'font/woff',
  woff2: 'font/woff2',
  ttf: 'font/ttf',
  otf: 'font/otf',
  eot: 'application/vnd.ms-fontobject',
  // Audio and video
  mp4: 'video/mp4',
  m4v: 'video/mp4',
  webm: 'video/webm',
  ogv: 'video/ogg',
  mov: 'video/quicktime',
  mp3: 'audio/mpeg',
  m4a: 'audio/mp4',
  aac: 'audio/aac',
  flac: 'audio/flac',
  ogg: 'audio/ogg',
  oga: 'audio/ogg',
  opus: 'audio/ogg',
  wav: 'audio/wav',
  // Archives
  zip: 'application/zip',
  gz: 'application/gzip',
  tgz: 'application/gzip',
  tar: 'application/x-tar',
  br: 'application/x-brotli',
};

// A Map, so an extension such as `.constructor` cannot reach Object.prototype.
const TYPES: ReadonlyMap<string, string> = new Map(Object.entries(TABLE));

/**
 * True for media types whose body is text: `text/*`, JSON, JavaScript, XML, YAML and the
 * `+json`/`+xml` suffix types (SVG, RSS, manifests). Used to add a charset here, and
 * suitable for deciding what is worth gzipping.
 *
 * @example isTextType('image/svg+xml') // true
 */
export function isTextType(mediaType: string): boolean {
  const type = mediaType.split(';', 1)[0]!.trim().toLowerCase();
  return (
    type.startsWith('text/') ||
    type.endsWith('+json') ||
    type.endsWith('+xml') ||
    type === 'application/json' ||
    type === 'application/javascript' ||
    type === 'application/xml' ||
    type === 'application/yaml'
  );
}

/**
 * The `Content-Type` for a file, chosen by its extension (case-insensitive). Text types get
 * `; charset=utf-8` because browsers otherwise guess, and guess wrong for non-ASCII; unknown
 * extensions get `application/octet-stream` so nothing is sniffed into HTML.
 *
 * @example mimeTypeFor('static/app.JS') // 'text/javascript; charset=utf-8'
 */
export function mimeTypeFor(filePath: string): string {
  const type = TYPES.get(extname(filePath).slice(1).toLowerCase());
  if (type === undefined) return DEFAULT_MIME_TYPE;
  return isTextType(type) ? `${type}; charset=utf-8` : type;
}
