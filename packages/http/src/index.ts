export { serveHttps, type HttpsServer, type ServeHttpsOptions } from './https.ts';
export { Metrics, limitBody, observe } from './observe.ts';
export { readBody, readText } from './body.ts';
export { clientAddress, requestHeader, responseHeader } from './headers.ts';
