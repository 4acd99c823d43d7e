// The memcached protocol level we answer as, and our repcached version.
// Tools detect features from these strings, so they change only on purpose.
export const MEMCACHED_VERSION = '1.6.18'
export const REPCACHED_VERSION = '2.3.1'
/** Our own release, shown in -h and logs. */
export const SERVER_RELEASE = '0.1.0'
