//! The cluster's PKI, generated fresh for every platform: one CA that signs the
//! apiserver's serving certificate and the client certificates of the admin,
//! the controller manager and the scheduler, plus the service-account key.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::PlatformError;

/// A certificate and its private key, as PEM files.
#[derive(Clone, Debug)]
pub(crate) struct CertFiles {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

/// All PEM files the control plane is started with.
#[derive(Clone, Debug)]
pub(crate) struct ClusterCerts {
    pub(crate) ca: CertFiles,
    pub(crate) apiserver: CertFiles,
    pub(crate) admin: CertFiles,
    pub(crate) controller_manager: CertFiles,
    pub(crate) scheduler: CertFiles,
    /// The apiserver's identity towards aggregated API servers.
    pub(crate) front_proxy_client: CertFiles,
    /// prometheus-adapter's serving certificate, for the name the aggregator checks.
    pub(crate) metrics_adapter_serving: CertFiles,
    /// prometheus-adapter's identity towards the apiserver.
    pub(crate) metrics_adapter_client: CertFiles,
    /// Signs service-account tokens (apiserver) and controller tokens (KCM).
    pub(crate) service_account_key: PathBuf,
    /// Verifies service-account tokens.
    pub(crate) service_account_pub: PathBuf,
}

/// DNS names and IPs the apiserver answers to, in and out of the cluster.
/// `10.96.0.1` is the `kubernetes` Service's IP in [`crate::apiserver::SERVICE_CIDR`].
const APISERVER_NAMES: &[&str] = &[
    "127.0.0.1",
    "localhost",
    "10.96.0.1",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

/// The only name allowed to assert users in request headers.
pub(crate) const FRONT_PROXY_CLIENT: &str = "front-proxy-client";

/// Admin identity: `system:masters` bypasses RBAC.
pub const ADMIN_USER: &str = "rollgate-admin";

impl ClusterCerts {
    /// Generates the PKI into `dir`.
    pub(crate) fn generate(dir: &Path) -> Result<ClusterCerts, PlatformError> {
        fs::create_dir_all(dir).map_err(|e| PlatformError::io("creating the certs dir", e))?;

        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::default();
        ca_params.distinguished_name = name("rollgate-platform-ca", None);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let ca = write_pair(dir, "ca", &ca_cert.pem(), &ca_key.serialize_pem())?;
        let issuer = Issuer::new(ca_params, ca_key);

        let names: Vec<String> = APISERVER_NAMES.iter().map(|s| s.to_string()).collect();
        let mut serving = CertificateParams::new(names)?;
        serving.distinguished_name = name("kube-apiserver", None);
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let apiserver = issue(dir, "apiserver", serving, &issuer)?;

        let admin = issue(
            dir,
            "admin",
            client(ADMIN_USER, Some("system:masters")),
            &issuer,
        )?;
        let controller_manager = issue(
            dir,
            "controller-manager",
            client("system:kube-controller-manager", None),
            &issuer,
        )?;
        let scheduler = issue(
            dir,
            "scheduler",
            client("system:kube-scheduler", None),
            &issuer,
        )?;

        let front_proxy_client = issue(
            dir,
            "front-proxy-client",
            client(FRONT_PROXY_CLIENT, None),
            &issuer,
        )?;

        // The aggregator dials the APIService's Service but verifies the certificate
        // against `<service>.<namespace>.svc`.
        let mut adapter = CertificateParams::new(vec![
            crate::metrics_api::SERVING_NAME.to_string(),
            "localhost".to_string(),
        ])?;
        adapter.distinguished_name = name(crate::metrics_api::USER, None);
        adapter.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let metrics_adapter_serving = issue(dir, "metrics-adapter-serving", adapter, &issuer)?;
        let metrics_adapter_client = issue(
            dir,
            "metrics-adapter-client",
            client(crate::metrics_api::USER, None),
            &issuer,
        )?;

        let sa_key = KeyPair::generate()?;
        let service_account_key = dir.join("service-account.key");
        let service_account_pub = dir.join("service-account.pub");
        write(&service_account_key, &sa_key.serialize_pem())?;
        write(&service_account_pub, &sa_key.public_key_pem())?;

        Ok(ClusterCerts {
            ca,
            apiserver,
            admin,
            controller_manager,
            scheduler,
            front_proxy_client,
            metrics_adapter_serving,
            metrics_adapter_client,
            service_account_key,
            service_account_pub,
        })
    }
}

fn name(common_name: &str, organization: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    if let Some(org) = organization {
        dn.push(DnType::OrganizationName, org);
    }
    dn
}

fn client(user: &str, group: Option<&str>) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(user, group);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params
}

fn issue(
    dir: &Path,
    file_stem: &str,
    params: CertificateParams,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<CertFiles, PlatformError> {
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    write_pair(dir, file_stem, &cert.pem(), &key.serialize_pem())
}

fn write_pair(
    dir: &Path,
    file_stem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<CertFiles, PlatformError> {
    let files = CertFiles {
        cert: dir.join(format!("{file_stem}.crt")),
        key: dir.join(format!("{file_stem}.key")),
    };
    write(&files.cert, cert_pem)?;
    write(&files.key, key_pem)?;
    Ok(files)
}

fn write(path: &Path, contents: &str) -> Result<(), PlatformError> {
    fs::write(path, contents)
        .map_err(|e| PlatformError::io(format!("writing {}", path.display()), e))
}
