// aedes on loopback for the interop tests: `node broker.mjs [PORT]` (0 or nothing: a free
// port). Prints `listening <port>` on stdout once it accepts connections, and runs until
// stdin closes (the test's handle dropped) or the process is killed.
import net from 'node:net'
import { Aedes } from 'aedes'

const port = Number(process.argv[2] ?? 0)
const aedes = await Aedes.createBroker()
const server = net.createServer(aedes.handle)
server.on('error', (err) => {
  console.error(`aedes: ${err.message}`)
  process.exit(1)
})
server.listen({ host: '127.0.0.1', port }, () => {
  console.log(`listening ${server.address().port}`)
})
// The test owns the broker: when its end of stdin closes, stop.
process.stdin.on('end', () => process.exit(0))
process.stdin.on('close', () => process.exit(0))
process.stdin.resume()
