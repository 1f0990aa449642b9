/**
 * The one place the certificate libraries are loaded and given their WebCrypto provider, so no
 * certificate code depends on the runtime's own WebCrypto. Other modules import `x509` and `pkijs`
 * from here, never from the packages directly: the Reflect polyfill must run before @peculiar/x509
 * is evaluated, and ES modules evaluate imports in the order written.
 */
import './reflect-polyfill.ts';
import { Crypto } from '@peculiar/webcrypto';
import * as x509 from '@peculiar/x509';
import * as pkijs from 'pkijs';

export const webcrypto = new Crypto();

x509.cryptoProvider.set(webcrypto);
pkijs.setEngine('@peculiar/webcrypto', new pkijs.CryptoEngine({ name: '@peculiar/webcrypto', crypto: webcrypto }));

export { x509, pkijs };
