// Two styles in two regions of one picture, from Node: Starry Night on the left half,
// The Great Wave on the right, blended inside the network (no seam).
//
// Written from protos/stylize/v1/stylize.proto alone (see its comments on StyleSource.region
// and the Stylize message order).
//
//   npm ci --prefix examples/node
//   node examples/node/regions.js ADDRESS OUT.png [CONTENT.png|.jpg]
//
// ADDRESS is the daemon's host:port (e.g. 127.0.0.1:50051); a token, if the daemon needs
// one, comes from $STYLIZE_TOKEN. CONTENT defaults to the bundled sample photo.
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO = path.join(__dirname, '..', '..', 'protos', 'stylize', 'v1', 'stylize.proto');
const SAMPLE = path.join(__dirname, '..', '..', 'daemon', 'stylize', 'samples', 'astronaut.jpg');
const CHUNK_BYTES = 1 << 20; // Limits.chunk_bytes
const MAX_MESSAGE_BYTES = 64 << 20; // Limits.max_message_bytes

// Width and height from a PNG's IHDR or a JPEG's start-of-frame marker: the masks must
// have the content's aspect ratio (here: its exact size).
function imageSize(data) {
  if (data.readUInt32BE(0) === 0x89504e47) {
    return { width: data.readUInt32BE(16), height: data.readUInt32BE(20) };
  }
  if (data[0] === 0xff && data[1] === 0xd8) {
    let offset = 2;
    while (offset + 9 < data.length) {
      const marker = data[offset + 1];
      const length = data.readUInt16BE(offset + 2);
      const startOfFrame = marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker);
      if (startOfFrame) {
        return { height: data.readUInt16BE(offset + 5), width: data.readUInt16BE(offset + 7) };
      }
      offset += 2 + length;
    }
  }
  throw new Error('content must be a PNG or JPEG file');
}

// A raw GRAY8 mask: 255 (this style) on one half, 0 on the other.
function halfMask(width, height, leftHalf) {
  const pixels = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      pixels[y * width + x] = (x < width / 2) === leftHalf ? 255 : 0;
    }
  }
  return { raw: { width, height, format: 'PIXEL_FORMAT_GRAY8', data: pixels } };
}

function main() {
  const [address, output, contentPath = SAMPLE] = process.argv.slice(2);
  if (!address || !output) {
    console.error('usage: node regions.js ADDRESS OUT.png [CONTENT]');
    process.exit(2);
  }
  const content = fs.readFileSync(contentPath);
  const { width, height } = imageSize(content);

  const definition = protoLoader.loadSync(PROTO, { keepCase: true, enums: String, longs: Number });
  const stylize = grpc.loadPackageDefinition(definition).stylize.v1;
  const client = new stylize.StyleTransfer(address, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  });
  const metadata = new grpc.Metadata();
  if (process.env.STYLIZE_TOKEN) {
    metadata.set('authorization', `Bearer ${process.env.STYLIZE_TOKEN}`);
  }

  const call = client.Stylize(metadata, { deadline: Date.now() + 600 * 1000 });
  const chunks = [];
  let accepted = false;
  let header = null;

  call.on('data', (event) => {
    if (event.progress && !accepted) {
      // The first event says the job is admitted: only now send the content.
      accepted = true;
      for (let offset = 0; offset < content.length; offset += CHUNK_BYTES) {
        call.write({ content_chunk: content.subarray(offset, offset + CHUNK_BYTES) });
      }
      call.end();
    } else if (event.result) {
      header = event.result;
    } else if (event.result_chunk) {
      chunks.push(event.result_chunk);
    }
  });
  call.on('error', (error) => {
    console.error(`stylize failed: ${error.code} ${error.details}`);
    process.exitCode = 1;
  });
  call.on('end', () => {
    if (header === null) return; // the error handler has reported why
    fs.writeFileSync(output, Buffer.concat(chunks));
    console.log(`${output}: ${header.image.width}x${header.image.height} in ${header.seconds.toFixed(2)} s`);
    client.close();
  });

  call.write({
    setup: {
      content: { encoded: {}, total_bytes: content.length },
      styles: [
        { named: 'starry_night', region: halfMask(width, height, true) },
        { named: 'great_wave', region: halfMask(width, height, false) },
      ],
      options: { output_format: 'OUTPUT_FORMAT_PNG' },
    },
  });
}

main();
