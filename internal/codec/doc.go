// Package codec turns an object into K+M shard streams and back: it seals
// the plaintext block by block with AES-256-GCM, erasure codes every sealed
// block with Reed-Solomon and checksums every shard-block. It does no I/O of
// its own: Encode writes to the io.Writers it is given and a Decoder reads
// through an Opener, so the store decides where shards live.
//
// # Format (version 1, see docs/codec-format.md)
//
// The plaintext is cut into blocks of Params.BlockSize bytes; the last block
// may be shorter and an empty object is one empty block. Block i is sealed
// under the caller's key with the STREAM nonce (i as uint64 big-endian, three
// zero bytes, then 1 for the final block and 0 otherwise) and the caller's
// additional data (the store passes the version ID). The sealed block,
// ciphertext and 16-byte tag, is split into K data shard-blocks of
// S = ceil((L+16)/K) bytes, zero padded, and M parity shard-blocks are
// computed from them.
//
// Each shard file is a 48-byte header (magic "RZSH", format version, K, M,
// shard index, block size, version ID, HighwayHash-64 of the header) and then,
// per block, the HighwayHash-128 of the shard-block followed by the
// shard-block. Block i of a shard starts at byte
// HeaderSize + i*(ChecksumSize+Sfull), Sfull being S for a full block, so
// any block can be read without reading the others.
//
// A shard's root is the BLAKE3-256 of its block checksums in order; Encode
// returns the roots for the signed manifest and Verify checks them.
//
// # Guarantees
//
//   - Any K intact shards give back the object; up to M may be missing or
//     damaged (G1, G2). Reads use the data shards when they are healthy and
//     need no Reed-Solomon decoding then.
//   - Checksums catch accidental damage per shard-block (bit rot, truncated
//     or torn files) and say which shard is bad before decryption.
//   - The AEAD catches deliberate damage: an edited shard with a recomputed
//     checksum, a shard of another object or version, reordered, spliced,
//     truncated or extended blocks. Such a block is decoded from other
//     K-subsets of the shards, and the shard that disagrees is reported.
//     Bytes that did not authenticate are never returned (G5).
//   - With WithHedge, a shard that keeps a block waiting past its hedge
//     delay is raced by a spare shard and cancelled if it loses, so a
//     hanging backend delays a read by about one hedge delay, not until a
//     timeout. The codec knows nothing of backends: the caller derives the
//     delays from what it measured.
//   - Memory is bounded by a few blocks in flight, whatever the object size;
//     blocks are sealed and opened in parallel.
//   - Encoding is deterministic, so a lost shard can be rebuilt bit for bit.
//     A key must therefore never seal two different plaintexts.
package codec
