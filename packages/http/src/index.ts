export { serveHttps, type HttpsServer, type ServeHttpsOptions } from './https.ts';
