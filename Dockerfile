# The storycheck image: one image for every process of the service, chosen by its command: the API by default,
# `node --import tsx src/worker/main.ts` for a worker, `... src/migrate/main.ts` for the migrations. The
# TypeScript runs through tsx, a runtime dependency; the one build step bundles the workflow code for workers. See docker-compose.prod.yml.
FROM node:20-bookworm-slim

ENV NODE_ENV=production
WORKDIR /app

# dependencies first, so a change to the source does not reinstall them
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# what the processes load at run time: their code, the workflows the worker bundles, the migrations, and the
# console's source that the API bundles on first request
COPY tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY sql ./sql
COPY scripts/bundle-workflows.ts ./scripts/
# the workflow code bundled once here, so that a worker polls within moments of its start (see WORKFLOW_BUNDLE)
RUN node --import tsx scripts/bundle-workflows.ts /app/.build/workflows.js
ENV WORKFLOW_BUNDLE=/app/.build/workflows.js

USER node
EXPOSE 3000
# what `npm run api` runs, with node itself as the process: `docker stop`'s SIGTERM reaches it and it shuts down
# gracefully (through npm, then sh, the signal stops at the shell and the process is killed 10 s later)
CMD ["node", "--import", "tsx", "src/api/main.ts"]
