import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

// The dashboard is served by the API under /ui/ (apps/api/src/dashboard); it builds into dist/ui next to the compiled apps.
export default defineConfig({
  root: here,
  base: '/ui/',
  // TSX with React's automatic runtime; no React plugin: the build needs no Fast Refresh.
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: fileURLToPath(new URL('../../dist/ui', import.meta.url)),
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 1024,
  },
  server: { proxy: { '/api': 'http://127.0.0.1:3000', '/ui/config.json': 'http://127.0.0.1:3000' } },
});
