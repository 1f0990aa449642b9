export { serveHttps, type HttpsServer, type ServeHttpsOptions } from './https.ts';
export { Metrics, observe } from './observe.ts';
