export { startGateway, type Gateway } from './gateway.ts';
export { configFromEnv, type GatewayConfig } from './config.ts';
