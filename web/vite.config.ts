import { defineConfig } from 'vite';

// The portal is served by skybridge at /admin; its files are embedded from
// dist/ (committed, so go build needs no Node). JSX compiles to Preact's automatic runtime.
export default defineConfig({
  base: '/admin/',
  esbuild: {
    jsx: 'automatic',
    jsxImportSource: 'preact',
  },
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    // No inline scripts: the portal's CSP allows only its own files.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    target: 'es2020',
  },
});
