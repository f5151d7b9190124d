// The read key: the one in use, and the one this browser keeps in local storage until
// the user chooses "Forget key".

const STORE = 'basewatch.readKey';
let current = null;

export const currentKey = () => current;
export const setKey = (key) => { current = key; };

export const storedKey = () => localStorage.getItem(STORE);
export const storeKey = (key) => localStorage.setItem(STORE, key);
export const forgetStoredKey = () => localStorage.removeItem(STORE);

// Only what an HTTP header can carry: printable ASCII without spaces.
export const isKeyShaped = (key) => /^[\x21-\x7e]+$/.test(key);
