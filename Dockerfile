# One image for the three apps; the command picks which one runs.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No fallback: a lockfile npm ci refuses is a bug to fix, not to hide.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY apps apps
COPY libs libs
COPY scripts scripts
RUN npm run build \
  && npm prune --omit=dev \
  # TypeScript stays after the prune as an optional peer of @nestjs/swagger
  # (its build-time plugin); nothing runs it at runtime.
  && rm -rf node_modules/typescript node_modules/.bin/tsc node_modules/.bin/tsserver

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
USER node
CMD ["node", "dist/apps/api/src/main.js"]
