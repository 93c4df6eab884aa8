# tunnel-ingress agent image. Not built or tested on the project's machines (no Docker engine runs
# there); kept deliberately plain so that it is easy to check by reading.
FROM node:20-bookworm-slim AS build
WORKDIR /app
# A compiler for the optional UDP batching addon (sendmmsg for QUIC; without it QUIC uses node:dgram).
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json binding.gyp ./
COPY native ./native
COPY scripts/build-native.mjs ./scripts/
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY common ./common
COPY tunnel ./tunnel
COPY agent ./agent
COPY edge-sim ./edge-sim
COPY kube-sim ./kube-sim
COPY examples ./examples
RUN npm run build && npm prune --omit=dev && mkdir -p build/Release

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/build/Release ./build/Release
# Runs as the image's unprivileged user and writes nothing to disk (logs go to stdout), so the root
# filesystem can be mounted read-only.
USER node
EXPOSE 20241
ENTRYPOINT ["node", "bin/tunnel-ingress.js"]
