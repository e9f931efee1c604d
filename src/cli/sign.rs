//! `ferry key generate`, and the signing and trust options of `build`,
//! `verify`, `unpack` (and anything else that reads a bundle).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use ferry::sign::{load_trusted_keys, KeyError, SigningKey, TrustPolicy, VerifyingKey};

use super::{print_json, Context};

/// The environment variable a key's password is read from by default.
pub const DEFAULT_PASSWORD_ENV: &str = "FERRY_KEY_PASSWORD";

/// `ferry key …`.
#[derive(Subcommand)]
pub enum KeyCommand {
    /// Write a new ECDSA P-256 key pair (cosign-compatible PEM).
    Generate(GenerateArgs),
}

/// Arguments of `ferry key generate`.
#[derive(Args)]
pub struct GenerateArgs {
    /// Private key file (PKCS#8 PEM; encrypted when a password is set).
    #[arg(long, default_value = "cosign.key")]
    pub output_key: PathBuf,
    /// Public key file (SPKI PEM).
    #[arg(long, default_value = "cosign.pub")]
    pub output_pub: PathBuf,
    /// Environment variable holding the password that encrypts the private key
    /// (unset or empty: the key is written unencrypted).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_PASSWORD_ENV)]
    pub password_env: String,
    /// Overwrite existing key files.
    #[arg(long)]
    pub force: bool,
}

/// Signing options of `ferry build`.
#[derive(Args)]
pub struct SignArgs {
    /// Sign the bundle's root with this private key (cosign format, stored in the bundle).
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// Environment variable holding the signing key's password.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_PASSWORD_ENV)]
    pub sign_password_env: String,
}

impl SignArgs {
    /// Loads the signing key, if one was asked for.
    pub fn load(&self) -> Result<Option<SigningKey>> {
        let Some(path) = &self.sign_key else {
            return Ok(None);
        };
        load_signing_key(path, &self.sign_password_env).map(Some)
    }
}

/// Trust options of commands that read a bundle.
#[derive(Args, Clone)]
pub struct TrustArgs {
    /// Accept a bundle signed by this public key (PEM; repeatable).
    #[arg(long = "key", value_name = "PUB")]
    pub keys: Vec<PathBuf>,
    /// Accept a bundle signed by any public key in this file (PEM blocks; repeatable).
    #[arg(long = "trust", value_name = "FILE")]
    pub trust_files: Vec<PathBuf>,
    /// Do not check the bundle's signature (integrity is still verified, origin is not).
    #[arg(long)]
    pub insecure_skip_signature: bool,
    /// Hash every blob again even when the file is unchanged since its last
    /// full verification (serve, push and render otherwise trust that stamp).
    #[arg(long)]
    pub reverify: bool,
}

impl TrustArgs {
    /// The trust policy these options describe; refuses when nothing is trusted.
    pub fn policy(&self) -> Result<TrustPolicy> {
        let mut keys = Vec::new();
        for path in &self.keys {
            keys.push(VerifyingKey::load(path)?);
        }
        for path in &self.trust_files {
            keys.extend(load_trusted_keys(path)?);
        }
        if keys.is_empty() && !self.insecure_skip_signature {
            bail!(
                "no trusted key: pass --key PUB or --trust FILE to check the bundle's signature, \
                 or --insecure-skip-signature to accept it without checking who signed it"
            );
        }
        Ok(TrustPolicy {
            keys,
            allow_unsigned: self.insecure_skip_signature,
        })
    }
}

fn password_from(env: &str) -> Option<String> {
    std::env::var(env).ok().filter(|p| !p.is_empty())
}

/// Loads a private key, decrypting it with the password in `$password_env`.
pub fn load_signing_key(path: &Path, password_env: &str) -> Result<SigningKey> {
    let password = password_from(password_env);
    match SigningKey::load(path, password.as_deref().map(str::as_bytes)) {
        Ok(key) => Ok(key),
        Err(error @ KeyError::NeedsPassword { .. }) => {
            Err(error).with_context(|| format!("set ${password_env} to the key's password"))
        }
        Err(error) => Err(error.into()),
    }
}

/// `ferry key …`.
pub fn run(ctx: &Context, command: &KeyCommand) -> Result<()> {
    match command {
        KeyCommand::Generate(args) => generate(ctx, args),
    }
}

fn generate(ctx: &Context, args: &GenerateArgs) -> Result<()> {
    for path in [&args.output_key, &args.output_pub] {
        if path.exists() && !args.force {
            bail!("{} exists; pass --force to overwrite it", path.display());
        }
    }
    let password = password_from(&args.password_env);
    let key = SigningKey::generate();
    let private = key.to_pem(password.as_deref().map(str::as_bytes))?;
    let public = key.verifying_key();
    write_file(&args.output_key, private.as_bytes(), 0o600)?;
    write_file(&args.output_pub, public.to_pem()?.as_bytes(), 0o644)?;
    if ctx.json {
        print_json(&serde_json::json!({
            "private_key": args.output_key,
            "public_key": args.output_pub,
            "encrypted": password.is_some(),
            "fingerprint": public.fingerprint(),
        }));
    } else {
        println!(
            "wrote {} ({}) and {}\nfingerprint {}",
            args.output_key.display(),
            if password.is_some() {
                "encrypted"
            } else {
                "NOT encrypted: set $FERRY_KEY_PASSWORD to encrypt it"
            },
            args.output_pub.display(),
            public.fingerprint()
        );
    }
    Ok(())
}

/// Writes a file atomically with the given mode.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".ferry-key-")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot write {}", path.display()))?;
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot write {}", path.display()))?;
    temp.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    temp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
