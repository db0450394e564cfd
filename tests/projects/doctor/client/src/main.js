const api = import.meta.env.VITE_API_URL;
const title = import.meta.env.VITE_TITLE;
const mode = import.meta.env.MODE;
fetch(`${api}/items`).then((r) => r.json()).then((items) => console.log(title, mode, items));
