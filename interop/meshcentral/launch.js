#!/usr/bin/env node
// Starts MeshCentral's bare-metal Intel AMT setup server for a vprolab lab.
//
// Run by the lab in the setup-server node (topologies/examples/meshcentral.yaml, `exec:`),
// after the lab wrote its provisioning chain under the state folder. It writes a
// MeshCentral data folder there: config.json with the hello server on port 9971 and the
// lab chain as the domain's ACM activation certificate, and a database with one
// device group with an ACM policy. Then it runs MeshCentral in the foreground,
// with its AMT setup messages on standard output, and exits with it.
//
// Options:
//   --state-dir DIR        the lab's state folder, with pki/leaf.pem, intermediate.pem,
//                          root.pem and leaf.key
//   --trusted-fqdn NAME    MeshCentral's trusted FQDN: the leaf's CN as MeshCentral
//                          shortens it (only for the top-level domains of its table)
//   --server-ip ADDRESS    the setup server's address in the lab
//   --admin-password PW    the administrator password MeshCentral sets on the ME
//   --mebx-password PW     the MEBx password MeshCentral sets
// MESHCENTRAL_DIR names the folder whose node_modules holds MeshCentral.
'use strict';

const childProcess = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const REQUIRED = ['state-dir', 'trusted-fqdn', 'server-ip', 'admin-password', 'mebx-password'];

function parseArguments(argv) {
    const options = {};
    for (let index = 0; index < argv.length; index += 2) {
        const name = argv[index].replace(/^--/, '');
        if (!REQUIRED.includes(name) || argv[index + 1] == null) fail(`unknown option or missing value: ${argv[index]}; the options are --${REQUIRED.join(', --')}`);
        options[name] = argv[index + 1];
    }
    const missing = REQUIRED.filter((name) => options[name] == null);
    if (missing.length > 0) fail(`missing option --${missing.join(', --')}`);
    return options;
}

function fail(message) {
    process.stderr.write(`launch.js: ${message}\n`);
    process.exit(2);
}

function meshCentralScript() {
    const folder = process.env.MESHCENTRAL_DIR;
    if (!folder) fail('MESHCENTRAL_DIR is not set: point it at the folder where `npm install meshcentral` ran (make interop-meshcentral does)');
    const script = path.resolve(folder, 'node_modules', 'meshcentral', 'meshcentral.js');
    if (!fs.existsSync(script)) fail(`${script} not found: install MeshCentral there with \`npm install meshcentral\``);
    return script;
}

// A device group identifier as MeshCentral makes them: 48 random bytes in its base64.
function deviceGroupId() {
    return 'mesh//' + crypto.randomBytes(48).toString('base64').replace(/\+/g, '@').replace(/\//g, '$');
}

function writeConfig(dataPath, options, groupId) {
    const pki = path.join(options['state-dir'], 'pki');
    const config = {
        settings: {
            cert: 'setup-server.vprolab',
            lanOnly: true,          // no STUN servers or other internet hosts for WebRTC
            selfUpdate: false,
            noAgentUpdate: true,
            autoBackup: false,
            amtScanner: false,
            meshScanner: false,
            no2FactorAuth: true,    // no user logs in, so no second factor is set up
            port: 8443,
            redirPort: 8080,
            filesPath: path.join(options['state-dir'], 'meshcentral-files'),
            amtProvisioningServer: {
                port: 9971,
                deviceGroup: groupId,
                newMebxPassword: options['mebx-password'],
                trustedFqdn: options['trusted-fqdn'],
                ip: options['server-ip'],
            },
        },
        domains: {
            '': {
                title: 'vprolab',
                amtAcmActivation: {
                    log: 'amtactivation.log',
                    certs: {
                        vprolab: {
                            certfiles: ['leaf.pem', 'intermediate.pem', 'root.pem'].map((file) => path.join(pki, file)),
                            keyfile: path.join(pki, 'leaf.key'),
                        },
                    },
                },
            },
        },
    };
    fs.writeFileSync(path.join(dataPath, 'config.json'), JSON.stringify(config, null, 2));
}

// MeshCentral's NeDB database, one JSON document a line, with the device group the
// activated MEs join. Policy type 3 is "Manage in ACM", and its password is the
// administrator password MeshCentral sets on the ME.
function writeDatabase(dataPath, options, groupId) {
    const group = { _id: groupId, type: 'mesh', name: 'vprolab ACM', mtype: 1, desc: '', domain: '', links: {}, amt: { type: 3, password: options['admin-password'] } };
    fs.writeFileSync(path.join(dataPath, 'meshcentral.db'), JSON.stringify(group) + '\n');
}

function main() {
    const options = parseArguments(process.argv.slice(2));
    const script = meshCentralScript();
    const dataPath = path.join(options['state-dir'], 'meshcentral-data');
    const groupId = deviceGroupId();

    fs.mkdirSync(dataPath, { recursive: true });
    writeConfig(dataPath, options, groupId);
    writeDatabase(dataPath, options, groupId);
    process.stdout.write(`launch.js: MeshCentral data folder ${dataPath}, device group ${groupId}\n`);

    // MeshCentral runs its server in a child process of its own, started with the same
    // node flags, so the chain-order fix reaches it too.
    const fix = path.join(__dirname, 'chain-order.js');
    const args = ['--require', fix, script, '--datapath', dataPath, '--debug', 'amtsca,amt'];
    const server = childProcess.spawn(process.execPath, args, { stdio: ['pipe', 'inherit', 'inherit'] });
    for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.kill(signal));
    server.on('exit', (code, signal) => process.exit(code == null ? 1 : code));
}

main();
