# syntax=docker/dockerfile:1
# Sluice's image: `docker build -t sluice .` The runtime stage holds the compiled dist/, production dependencies only,
# and runs as the unprivileged `node` user. /bin/ratelimit is the entry point (as in envoyproxy/ratelimit's image,
# which Envoy Gateway's Deployment runs by that path).

# Build: every dependency (TypeScript), then compile src/ into dist/. The generated protobuf code is committed,
# so no install script is needed (buf's binary is only for `npm run gen`).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json

# Production dependencies only.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The quick start's example rules (RUNTIME_ROOT defaults to /app); deployments mount their own.
COPY config ./config
COPY --chmod=0755 docker/ratelimit /bin/ratelimit
COPY docker/healthcheck.mjs ./docker/healthcheck.mjs
USER node
# HTTP (/json, /nginx/auth, /healthcheck), gRPC, debug.
EXPOSE 8080 8081 6070
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["node", "/app/docker/healthcheck.mjs"]
ENTRYPOINT ["/bin/ratelimit"]
