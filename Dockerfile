# Sluice container image.
#
#   docker build -t sluice .
#   docker run -v ./sluice.yaml:/etc/sluice/sluice.yaml:ro -p 8080:8080 sluice
#
# Stage `build` compiles TypeScript with the dev dependencies (docker-compose.yml also runs
# its load generator from this stage); stage `runtime` holds the compiled output and the
# production dependencies only, and runs as the unprivileged `node` user.

ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY pipeline ./pipeline
COPY config ./config
COPY avro ./avro
COPY connectors ./connectors
COPY snapshot ./snapshot
COPY sinks ./sinks
COPY cli ./cli
COPY admin ./admin
COPY transforms ./transforms
COPY decoder ./decoder
RUN npm run build
# For the compose `load` profile (docker/loadgen.ts); not part of the runtime image.
COPY scripts/lib ./scripts/lib
COPY docker/loadgen.ts ./docker/loadgen.ts

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
RUN chmod 0755 dist/cli/main.js \
  && ln -s /app/dist/cli/main.js /usr/local/bin/sluice \
  && mkdir -p /etc/sluice /var/lib/sluice \
  && chown node:node /var/lib/sluice
# Positions and snapshot progress: point state.path here and mount a volume.
VOLUME ["/var/lib/sluice"]
USER node
EXPOSE 8080
# The admin API's /healthz (node:*-slim has no curl). SLUICE_ADMIN_PORT when admin.port is not 8080.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.SLUICE_ADMIN_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["sluice"]
CMD ["run", "-c", "/etc/sluice/sluice.yaml"]
