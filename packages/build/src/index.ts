/**
 * @imgkit/build: one recipe → every artifact an appliance project ships (hybrid ISO, disk layouts,
 * VM images, update image, root tar, initramfs), each with a `.sha256`, sharing work:
 *
 *     const recipe = parseRecipe(text, 'recipe.yaml');
 *     const result = await runBuild(recipe, { files, output, epoch, pool, onProgress });
 *
 * Browser-safe: files and outputs go through `BuildFiles` / `BuildOutput` (`nodeBuildHost` in
 * `@imgkit/build/node` serves the local filesystem).
 */
export * from './recipe.js';
export * from './build.js';
export { overlayTrees, generatedTree, type GeneratedFile } from './trees.js';
export { isolinuxConfig, grubConfig, grubEnvironmentBlock, GRUBENV_SIZE, type PlacedEntry, type GrubConfigOptions } from './boot-config.js';
export { writeTar, TAR_BLOCK, type TarOptions, type TarResult } from './tar.js';
export { resolveModules, moduleBytes, type ResolvedModule } from './modules.js';
