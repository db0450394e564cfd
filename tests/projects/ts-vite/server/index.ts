import express, { type Request, type Response } from 'express';
import mongoose from 'mongoose';

const app = express();
const PORT: number = Number(process.env.PORT ?? 8080);

app.get('/health', (_req: Request, res: Response) => res.json({ status: 'ok' }));

await mongoose.connect(process.env.MONGO_URL ?? 'mongodb://localhost:27019/notes');
app.listen(PORT);
