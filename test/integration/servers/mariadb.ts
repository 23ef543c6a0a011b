// The throwaway-server logic lives in scripts/lib so that `npm run demo` shares it.
export * from '../../../scripts/lib/mariadb.js'
