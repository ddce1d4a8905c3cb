/** Placeholder: the mkisofs helper replaces this file with its command. */
export function register(): void {}
