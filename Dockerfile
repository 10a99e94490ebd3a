# The server's image. tsx runs the TypeScript sources as they are, so there is no build stage.
FROM node:20-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY tsconfig.json main.ts ./
COPY apiserver apiserver
COPY lib lib
COPY modes modes
COPY openapi openapi
COPY reconcile reconcile
COPY storage storage
# The base image's 'node' user, by number so that the kubelet can check runAsNonRoot.
USER 1000:1000
EXPOSE 8443
ENTRYPOINT ["node", "--import", "tsx", "main.ts"]
