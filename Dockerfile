# polykms gateway image: Node 20, the workspace installed from the lockfile, run as a non-root user.
FROM node:20.20.2-bookworm-slim
ENV NODE_ENV=production PNPM_HOME=/pnpm POLYKMS_HOST=0.0.0.0 POLYKMS_DATA_DIR=/var/lib/polykms
RUN corepack enable && corepack prepare pnpm@10.34.9 --activate
WORKDIR /app
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json ./
COPY patches ./patches
COPY packages ./packages
COPY apps ./apps
RUN pnpm install --frozen-lockfile \
 && mkdir -p /var/lib/polykms && chown node:node /var/lib/polykms
USER node
EXPOSE 8440 8443 8444 8445
VOLUME ["/var/lib/polykms"]
# /readyz on the admin port, HTTPS verified against the gateway CA in the data directory (not curl -k).
HEALTHCHECK --interval=10s --timeout=3s --retries=6 CMD ["node", "apps/gateway/bin/healthcheck.mjs"]
CMD ["node", "apps/gateway/bin/polykms.mjs", "serve"]
