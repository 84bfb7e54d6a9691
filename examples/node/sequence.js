// A short moving picture from Node: raw RGB8 frames of a pan across a generated scene,
// stylized as one sequence (consistent in time) and written back as raw frames.
//
// Written from protos/stylize/v1/stylize.proto alone (see the comments on
// rpc StylizeSequence: setup first, then one `frame` message per frame; one `frame`
// event per frame back, in order).
//
//   npm ci --prefix examples/node
//   node examples/node/sequence.js ADDRESS OUT_DIR [FRAMES] [WIDTH] [HEIGHT]
//
// Writes OUT_DIR/frame-000.rgb, ... (raw RGB8, WIDTH x HEIGHT) and prints one JSON line
// per frame: {"index", "scene_cut", "reliable"}.
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO = path.join(__dirname, '..', '..', 'protos', 'stylize', 'v1', 'stylize.proto');
const MAX_MESSAGE_BYTES = 64 << 20; // Limits.max_message_bytes

// A scene twice as wide as a frame (coloured stripes and a disc), seen through a window
// that pans right one step a frame: motion the optical flow can follow.
function frameAt(index, width, height) {
  const pixels = Buffer.alloc(width * height * 3);
  const shift = index * 3;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const sx = x + shift;
      const disc = (sx - width) ** 2 + (y - height / 2) ** 2 < (height / 3) ** 2;
      const offset = (y * width + x) * 3;
      pixels[offset] = disc ? 240 : (sx * 5) % 256;
      pixels[offset + 1] = disc ? 200 : (y * 7) % 256;
      pixels[offset + 2] = disc ? 40 : ((sx + y) * 3) % 256;
    }
  }
  return pixels;
}

function main() {
  const [address, outDir, frames = '6', width = '96', height = '64'] = process.argv.slice(2);
  if (!address || !outDir) {
    console.error('usage: node sequence.js ADDRESS OUT_DIR [FRAMES] [WIDTH] [HEIGHT]');
    process.exit(2);
  }
  const count = Number(frames);
  const [w, h] = [Number(width), Number(height)];
  fs.mkdirSync(outDir, { recursive: true });

  const definition = protoLoader.loadSync(PROTO, {
    keepCase: true, enums: String, longs: Number, defaults: true, oneofs: true,
  });
  const stylize = grpc.loadPackageDefinition(definition).stylize.v1;
  const client = new stylize.StyleTransfer(address, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  });
  const metadata = new grpc.Metadata();
  if (process.env.STYLIZE_TOKEN) {
    metadata.set('authorization', `Bearer ${process.env.STYLIZE_TOKEN}`);
  }

  const call = client.StylizeSequence(metadata, { deadline: Date.now() + 600 * 1000 });
  let received = 0;
  call.on('data', (event) => {
    if (event.event !== 'frame') return; // progress events: frames done, fps
    const frame = event.frame;
    const file = path.join(outDir, `frame-${String(frame.index).padStart(3, '0')}.rgb`);
    fs.writeFileSync(file, frame.raw.data);
    console.log(JSON.stringify({
      index: frame.index, scene_cut: frame.scene_cut, reliable: frame.reliable,
    }));
    received += 1;
  });
  call.on('error', (error) => {
    console.error(`stylize: ${grpc.status[error.code]}: ${error.details}`);
    process.exit(1);
  });
  call.on('end', () => {
    if (received !== count) {
      console.error(`stylize: ${received} of ${count} frames came back`);
      process.exit(1);
    }
  });

  call.write({
    setup: {
      stylize: { styles: [{ named: 'starry_night' }] },
      consistency: {}, // the defaults: motion 0.8, colour 0.9, scene cut 0.5
      total_frames: count,
    },
  });
  for (let index = 0; index < count; index++) {
    // write() buffers; gRPC's flow control paces the daemon, which reads a frame only
    // when it is ready to paint it.
    call.write({
      frame: { raw: { width: w, height: h, format: 'PIXEL_FORMAT_RGB8', data: frameAt(index, w, h) } },
    });
  }
  call.end();
}

main();
