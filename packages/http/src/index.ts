export { serveHttps, type HttpsServer, type ServeHttpsOptions } from './https.ts';
export { Metrics, RecentCounts, limitBody, observe } from './observe.ts';
export { readBody, readText } from './body.ts';
export { fromStdBase64 } from './base64.ts';
export { clientAddress, requestHeader, responseHeader } from './headers.ts';
export { describeIssues, parseJson, readJson, type BodyProblem, type JsonBodyOptions } from './json.ts';
export { handleErrors, type Rendered } from './errors.ts';
export { refuseCrossSite, type CrossSiteOptions } from './crosssite.ts';
export { STATUS_OF_KIND } from './status.ts';
