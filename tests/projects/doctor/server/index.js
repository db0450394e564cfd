require('dotenv').config();
const express = require('express');
const jwt = require('./routes/auth');

const { STRIPE_KEY, SMTP_HOST, PORT = 3001 } = process.env;
const app = express();
app.use('/auth', jwt(process.env.JWT_SECRET));
const uri = process.env['MONGODB_URI'];
const mode = process.env.NODE_ENV === 'production' ? 'prod' : 'dev';
const timeout = Number(process.env.TIMEOUT_MS) || 2000;
app.listen(PORT, () => console.log(mode, uri, STRIPE_KEY, SMTP_HOST, timeout));
