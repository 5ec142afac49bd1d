// allocUnsafeSlow: transferred buffers must own their memory (never Node's shared small-buffer pool).
// Worker threads that read and hash runs of blocks, so a scan uses every core. A worker compares
// each block's hash with the manifest entry it was given and hands back the chunk buffer only when
// some block differs, so an unchanged disk costs reads and hashes, nothing else.
// The worker is plain JavaScript evaluated in place: it runs the same under ts-node and from dist/.

export const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { blake3 } = require(workerData.blakePath);
// Open descriptors by path, each with the file it opened (dev:ino). A request names the file the
// main thread opened and fingerprinted: a kept descriptor of another file (the path was re-pointed,
// or the file replaced by a rename, since it was opened) is closed and the path opened again, and a
// path that now names another file is SOURCE_CHANGED, never bytes of the wrong file.
const MAX_OPEN = 16;
const fds = new Map();
let spare = null;
function identity(fd) {
  const st = fs.fstatSync(fd, { bigint: true });
  return st.dev + ':' + st.ino;
}
function fdFor(m) {
  let e = fds.get(m.path);
  if (e !== undefined && m.file && e.id !== m.file) { fs.closeSync(e.fd); fds.delete(m.path); e = undefined; }
  if (e === undefined) {
    const fd = fs.openSync(m.path, 'r');
    e = { fd, id: identity(fd) };
    if (m.file && e.id !== m.file) {
      fs.closeSync(fd);
      throw Object.assign(new Error(m.path + ' no longer names the file that was opened (re-pointed or replaced while it was read)'), { code: 'SOURCE_CHANGED' });
    }
    for (const [p, old] of fds) { if (fds.size < MAX_OPEN) break; fs.closeSync(old.fd); fds.delete(p); }
    fds.set(m.path, e);
  }
  return e.fd;
}
parentPort.on('message', (m) => {
  if (m.close) { for (const e of fds.values()) fs.closeSync(e.fd); fds.clear(); return; }
  try {
    const fd = fdFor(m);
    let buf = spare && spare.length >= m.length ? spare : Buffer.allocUnsafeSlow(Math.max(m.length, 1));
    spare = null;
    // The chunk is one extent, or several (change tracking: scattered blocks) read back to back.
    const extents = m.extents || [[m.offset, m.length]];
    let pos = 0;
    for (const [offset, length] of extents) {
      let got = 0;
      while (got < length) {
        const n = fs.readSync(fd, buf, pos + got, length - got, offset + got);
        if (n === 0) throw Object.assign(new Error('file shrank while it was being read (read ' + got + ' of ' + length + ' bytes at ' + offset + ')'), { code: 'SOURCE_CHANGED' });
        got += n;
      }
      pos += length;
    }
    const count = Math.ceil(m.length / m.blockSize);
    const hashes = Buffer.allocUnsafeSlow(Math.max(count * 32, 1));
    const old = m.old ? Buffer.from(m.old.buffer, m.old.byteOffset, m.old.byteLength) : null;
    const changed = [];
    for (let i = 0; i < count; i++) {
      const s = i * m.blockSize;
      const h = blake3(buf.subarray(s, Math.min(s + m.blockSize, m.length)));
      h.copy(hashes, i * 32);
      if (old && !h.equals(old.subarray(i * 32, i * 32 + 32))) changed.push(i);
    }
    if (changed.length > 0 && m.wantData && changed.length * 2 <= count) {
      // A few blocks changed: copy just those (the chunk buffer stays for the next read, so no
      // fresh pages are faulted in per chunk).
      const last = changed[changed.length - 1];
      const size = (changed.length - 1) * m.blockSize + Math.min(m.blockSize, m.length - last * m.blockSize);
      const data = Buffer.allocUnsafeSlow(size);
      changed.forEach((j, k) => buf.copy(data, k * m.blockSize, j * m.blockSize, Math.min((j + 1) * m.blockSize, m.length)));
      spare = buf;
      parentPort.postMessage({ id: m.id, hashes, changed, data, compact: true }, [data.buffer, hashes.buffer]);
    } else if (changed.length > 0 && m.wantData) {
      parentPort.postMessage({ id: m.id, hashes, changed, data: buf.subarray(0, m.length), compact: false }, [buf.buffer, hashes.buffer]);
    } else {
      spare = buf;
      parentPort.postMessage({ id: m.id, hashes, changed }, [hashes.buffer]);
    }
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String(e && e.message || e), code: e && e.code });
  }
});
`;
