const express = require('express');
const mongoose = require('mongoose');

const app = express();
mongoose.connect(process.env.MONGODB_URI);
app.get('/api/status', (_req, res) => res.json({ status: 'ok' }));
app.listen(process.env.PORT || 3000);
