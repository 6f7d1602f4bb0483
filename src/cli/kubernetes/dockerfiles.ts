/**
 * The Dockerfiles `hangar export kubernetes` writes (docs/kubernetes.md "Images"): one for
 * Hangar itself (the front end, the socket service, and the runtime every version image copies
 * in), and one per version, which builds the version as a deploy does (src/versions/build.ts)
 * and runs the Knative pod entry (src/knative/pod-main.ts) on $PORT.
 */

/** What the export saw of a version's package.json, to build it as a deploy does. */
export interface PackageFacts {
  hasPackageJson: boolean;
  locked: boolean;
  gcpBuild: boolean;
}

/**
 * The version's build steps, as one shell command, or undefined when there is nothing to
 * install: `npm ci` with a lockfile (`npm install` without), `--omit=dev` directly, or with a
 * `gcp-build` script the dev dependencies first, the script, then `npm prune --omit=dev`.
 *
 * @example
 * buildCommand({ hasPackageJson: true, locked: true, gcpBuild: false }) // 'npm ci --omit=dev --no-audit --no-fund'
 */
export function buildCommand(facts: PackageFacts): string | undefined {
  if (!facts.hasPackageJson) return undefined;
  const install = facts.locked ? 'npm ci' : 'npm install';
  const flags = '--no-audit --no-fund';
  if (facts.gcpBuild) return `${install} ${flags} && npm run gcp-build && npm prune --omit=dev ${flags}`;
  return `${install} --omit=dev ${flags}`;
}

/**
 * Hangar's image: built from the copy of the Hangar package beside it (`package/`), production
 * dependencies only, with the native ones compiled in a full Node image and the result copied
 * into a slim one. `locked`: the package came with its lockfile (a checkout does; an installed
 * package does not), so `npm ci` installs exactly what it was tested with.
 */
export function hangarDockerfile(node: string, locked = true): string {
  const install = locked ? 'npm ci' : 'npm install';
  return `# Hangar's own image: the front end (hangar serve), the socket service, and the runtime
# every version image copies in. Build it from this folder:
#   docker build -t <registry>/hangar:<version> .
FROM node:${node}-bookworm AS build
WORKDIR /opt/hangar
COPY package/ ./
# --ignore-scripts: the package's own "prepare" builds from TypeScript sources it does not ship;
# the native dependencies are built right after.
RUN ${install} --omit=dev --ignore-scripts --no-audit --no-fund && npm rebuild better-sqlite3 esbuild

FROM node:${node}-bookworm-slim
COPY --from=build /opt/hangar /opt/hangar
USER 1000
ENTRYPOINT ["node", "/opt/hangar/dist/cli/main.js"]
`;
}

/**
 * A version's image: its files built in a full Node image of the Node it was built with on the
 * platform (native addons need that ABI), then the app and Hangar's runtime in a slim one, run
 * as user 1000 with the app's files owned by root (read-only to it, as a version's files never
 * change).
 */
export function versionDockerfile(options: {
  node: string;
  hangarImage: string;
  build: string | undefined;
}): string {
  const build = options.build
    ? `# As a deploy builds it (docs/serve.md "The deploy protocol").\nRUN ${options.build}\n`
    : '# No package.json: nothing to install.\n';
  return `# One version of a Hangar service, as a Knative revision. Build it from this folder:
#   docker build --build-arg HANGAR_IMAGE=${options.hangarImage} -t <image> .
ARG HANGAR_IMAGE=${options.hangarImage}
FROM \${HANGAR_IMAGE} AS hangar

FROM node:${options.node}-bookworm AS build
WORKDIR /app
COPY app/ ./
${build}
FROM node:${options.node}-bookworm-slim
COPY --from=hangar /opt/hangar /opt/hangar
COPY --from=build /app /app
ENV NODE_ENV=production HANGAR_APP_DIR=/app HANGAR_CACHE_DIR=/tmp/hangar-cache PORT=8080
USER 1000
EXPOSE 8080
# The Hangar instance runtime behind an HTTP server on $PORT (src/knative/pod-main.ts).
CMD ["node", "/opt/hangar/dist/knative/pod-main.js"]
`;
}
