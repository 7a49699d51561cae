// Loaded with `node --require` in front of MeshCentral by launch.js.
//
// MeshCentral 1.1.55 connects back to the ME with its activation chain reversed. Its
// bare-metal setup server passes tls.connect() the chain root first, with the leaf's key,
// so Node rejects the options with "key values mismatch", and the server process exits
// at the first hello. This puts the certificate that matches the key first, the order
// TLS sends a client chain in, and leaves every other option as MeshCentral set it.
'use strict';

const crypto = require('crypto');
const tls = require('tls');

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\s*/g;

function leafFirst(options) {
    if (options == null || typeof options.cert !== 'string' || options.key == null) return options;
    const certificates = options.cert.match(PEM_CERTIFICATE);
    if (certificates == null || certificates.length < 2) return options;

    let key;
    try { key = crypto.createPrivateKey(options.key); } catch (error) { return options; }
    const matches = (pem) => { try { return new crypto.X509Certificate(pem).checkPrivateKey(key); } catch (error) { return false; } };
    if (matches(certificates[0]) || !matches(certificates[certificates.length - 1])) return options;

    process.stdout.write('vprolab chain-order: MeshCentral passed the chain root first; sending it leaf first\n');
    return Object.assign({}, options, { cert: certificates.reverse().join('') });
}

const connect = tls.connect;
tls.connect = function (...args) {
    const index = args.findIndex((argument) => argument != null && typeof argument === 'object');
    if (index >= 0) args[index] = leafFirst(args[index]);
    return connect.apply(this, args);
};
