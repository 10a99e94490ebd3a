# The server's image: TypeScript compiled in a build stage; the image runs JavaScript (less memory and a faster
# start than compiling at run time) with the production dependencies only.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json main.ts ./
COPY apiserver apiserver
COPY apiservice apiservice
COPY lib lib
COPY modes modes
COPY openapi openapi
COPY reconcile reconcile
COPY storage storage
RUN npx tsc -p tsconfig.build.json

FROM node:20-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist dist
# The base image's 'node' user, by number so that the kubelet can check runAsNonRoot.
USER 1000:1000
EXPOSE 8443
ENTRYPOINT ["node", "--enable-source-maps", "dist/main.js"]
