module.exports = (secret) => (req, _res, next) => {
  req.secret = secret || process.env.FALLBACK_SECRET;
  next();
};
