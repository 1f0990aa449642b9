import { isIP } from 'node:net';
import { KmsError } from '@polykms/core';

const CONTROL = /[\u0000-\u001f\u007f]/;
/** RFC 5280 upper bound for a commonName (ub-common-name). */
const MAX_COMMON_NAME = 64;

export function checkCommonName(name: unknown, what: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_COMMON_NAME || CONTROL.test(name)) {
    throw new KmsError('invalid_argument', `${what} common name must be 1 to ${MAX_COMMON_NAME} printable characters`, 'common_name');
  }
  return name;
}

export function checkUpn(upn: unknown): string {
  if (typeof upn !== 'string' || upn.length === 0 || upn.length > 256 || CONTROL.test(upn)) {
    throw new KmsError('invalid_argument', 'the UPN (e.g. okms.domain:<okmsId>) must be 1 to 256 printable characters', 'upn');
  }
  return upn;
}

// A leading '*.' is the only wildcard form TLS clients honour.
const DNS_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

export function checkDnsNames(names: unknown): string[] {
  if (names === undefined) return [];
  if (!Array.isArray(names)) throw new KmsError('invalid_argument', 'dnsNames must be a list of host names', 'dns_name');
  return names.map((name: unknown) => {
    if (typeof name !== 'string' || name.length > 253 || !DNS_NAME.test(name)) {
      throw new KmsError('invalid_argument', `'${String(name)}' is not a valid DNS name for a certificate`, 'dns_name');
    }
    return name.toLowerCase();
  });
}

export function checkIpAddresses(addresses: unknown): string[] {
  if (addresses === undefined) return [];
  if (!Array.isArray(addresses))
    throw new KmsError('invalid_argument', 'ipAddresses must be a list of IPv4 or IPv6 addresses', 'ip_address');
  return addresses.map((address: unknown) => {
    if (typeof address !== 'string' || isIP(address) === 0) {
      throw new KmsError('invalid_argument', `'${String(address)}' is not an IPv4 or IPv6 address`, 'ip_address');
    }
    return address;
  });
}
