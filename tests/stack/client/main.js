// Calls the backend through the dev server's /api proxy, as the browser would.
const app = document.getElementById('app');
fetch('/api/health')
  .then((response) => response.json())
  .then((body) => {
    app.textContent = `backend: ${body.status}, db: ${body.db}`;
  })
  .catch((error) => {
    app.textContent = `backend unreachable: ${error.message}`;
  });
