export { serveHttps, type HttpsServer, type ServeHttpsOptions } from './https.ts';
export { Metrics, RecentCounts, limitBody, observe } from './observe.ts';
export { readBody, readText } from './body.ts';
export { requestHeader, responseHeader } from './headers.ts';
export { refuseCrossSite, type CrossSiteOptions } from './crosssite.ts';
