// A small Express + mongoose backend, written the way most MERN tutorials and starters write
// theirs, for trayapp's tests. Everything it knows comes from the environment:
//
//   PORT                         port to listen on (default 5000)
//   HOST                         address to listen on; unset = app.listen(PORT), i.e. every
//                                address, IPv6 and IPv4 (Node's default, like the tutorials)
//   MONGODB_URI                  default mongodb://127.0.0.1:27017/app
//   MONGO_SERVER_SELECTION_MS    mongoose/driver serverSelectionTimeoutMS (driver default 30000)
//   MONGO_HEARTBEAT_MS           driver heartbeatFrequencyMS (driver default 10000)
//   MONGO_RETRY_MS               unset: one mongoose.connect(); after an initial failure the
//                                app never tries again (mongoose's default, and the tutorials').
//                                Set: try again this many milliseconds after each failure.
//
// GET /api/health answers 200 {"status":"ok","db":"connected"} while mongoose's readyState is 1,
// else 503 {"status":"error","db":<mongoose's state name>} (disconnected, connecting,
// disconnecting, uninitialized). A listen error (EADDRINUSE) is thrown from the listen callback,
// as Express 5's own docs do (Express 5 passes the server's 'error' event to that callback): Node
// prints `Error: listen EADDRINUSE: address already in use :::5000` with its stack and exits 1.
import express from 'express';
import mongoose from 'mongoose';

const PORT = Number(process.env.PORT || 5000);
const HOST = process.env.HOST || undefined;
const MONGODB_URI = process.env.MONGODB_URI || 'mongodb://127.0.0.1:27017/app';

function numberFromEnv(name) {
  const raw = process.env[name];
  return raw ? Number(raw) : undefined;
}

const mongoOptions = {};
if (numberFromEnv('MONGO_SERVER_SELECTION_MS') !== undefined) {
  mongoOptions.serverSelectionTimeoutMS = numberFromEnv('MONGO_SERVER_SELECTION_MS');
}
if (numberFromEnv('MONGO_HEARTBEAT_MS') !== undefined) {
  mongoOptions.heartbeatFrequencyMS = numberFromEnv('MONGO_HEARTBEAT_MS');
}
const retryMs = numberFromEnv('MONGO_RETRY_MS');

const app = express();
app.use(express.json());

app.get('/api/health', (req, res) => {
  const state = mongoose.connection.readyState;
  const db = mongoose.STATES[state] ?? String(state);
  if (state === mongoose.STATES.connected) {
    res.json({ status: 'ok', db });
  } else {
    res.status(503).json({ status: 'error', db });
  }
});

app.get('/api/hello', (req, res) => {
  res.json({ message: 'Hello from the backend' });
});

mongoose.connection.on('connected', () => console.log('MongoDB connected'));
mongoose.connection.on('disconnected', () => console.log('MongoDB disconnected'));
mongoose.connection.on('reconnected', () => console.log('MongoDB reconnected'));

async function connectDB() {
  try {
    await mongoose.connect(MONGODB_URI, mongoOptions);
  } catch (err) {
    console.error(`MongoDB connection error: ${err.name}: ${err.message}`);
    if (retryMs !== undefined) {
      console.log(`Retrying MongoDB connection in ${retryMs} ms`);
      setTimeout(connectDB, retryMs);
    }
  }
}

connectDB();

const onListening = (error) => {
  if (error) {
    throw error;
  }
  console.log(`Server listening on port ${PORT}`);
};
if (HOST) {
  app.listen(PORT, HOST, onListening);
} else {
  app.listen(PORT, onListening);
}
